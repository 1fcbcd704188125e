"""Leaderboard runs (``llmconfig bench``) and their reports (``llmconfig report``).

- :mod:`~gymnasium_llmconfig.lab.leaderboard.runner`: agents × envs × budgets × seeds as Ray tasks, resumable;
- :mod:`~gymnasium_llmconfig.lab.leaderboard.store`: the results directory (episode log, fitted agents, settings);
- :mod:`~gymnasium_llmconfig.lab.leaderboard.report`: markdown, self-contained HTML and regret-vs-budget plots.
"""
