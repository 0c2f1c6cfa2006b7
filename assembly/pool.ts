// pool kernels: to be written.
