"""The console's reports (/console/reports): one module per report, read-only functions over
a session given explicitly; views.py turns each into a page and its CSV / XLSX files."""
