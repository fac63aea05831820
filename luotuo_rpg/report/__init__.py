"""Plots of a run: ``write_report(run_dir)`` in :mod:`luotuo_rpg.report.page` writes report.html."""
