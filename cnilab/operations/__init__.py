"""pyinfra operations, one per kind of kernel object: read a JSON fact, yield only the difference."""
