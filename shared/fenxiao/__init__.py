"""fenxiao: the distribution programme (分销) backend of a WeChat mini-program mall."""

__version__ = "0.1.0"
