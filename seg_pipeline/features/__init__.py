"""Features stage: the documented feature table of every active account and week, its checks and its reads."""
