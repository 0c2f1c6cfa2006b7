// roi kernels: to be written.
