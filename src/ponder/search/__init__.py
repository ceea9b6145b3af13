"""Step-level search: shared pieces (resampling schemes, effective sample size) for search strategies."""
