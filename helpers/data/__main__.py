"""``python -m helpers.data``: the dataset in use, in a few lines."""

from .summary import dataset_summary, format_summary

print(format_summary(dataset_summary()))
