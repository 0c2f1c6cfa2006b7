// boxes kernels: to be written.
