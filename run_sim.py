"""Entry point: ``python run_sim.py`` runs 七侠镇 for one game day on the offline mind."""

from luotuo_rpg.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
