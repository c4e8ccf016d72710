"""The ADD paper's Table 2 as one command: build training sets, train a classifier on each, report with CIs."""
