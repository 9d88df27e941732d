"""opendata-pipeline: messy Thai contest workbooks in, validated open data out."""

__version__ = "0.1.0"
