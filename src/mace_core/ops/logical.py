"""(to be written)"""

OPS: list = []
