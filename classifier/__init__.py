"""An image classifier for MNIST-format data: the library that the pipeline's stages and the commands use."""
