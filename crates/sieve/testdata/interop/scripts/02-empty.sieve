# Nothing at all: the implicit keep alone.
