"""Run folders and the files in them: atomic writes and safe checkpoint loading, the folder and its
lock, the Markdown/HTML document model of reports, and TensorBoard metrics. Above `runtime` only."""
