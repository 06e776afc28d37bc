"""Tools for people: the synthetic workload, the HTML cost report, exports for analysts."""
