"""The ground floor: errors, the registry type, number and Markdown formatting, YAML reading, paths, the
neutral Samples type. Imports nothing else of the harness."""
