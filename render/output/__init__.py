"""What a run leaves behind: videos and exports, previews, plots, quality metrics, sweep summaries."""
