"""The runs face: the Runs tab (`runs_tab`) and its overlaid, smoothed curves (`compare_chart`)."""
