// layout kernels: to be written.
