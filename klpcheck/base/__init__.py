"""Shared small types at the bottom: errors, results, options, output files, resources."""
