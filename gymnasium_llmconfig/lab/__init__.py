"""The top layer: everything that *uses* the envs, wrappers and agents, and that nothing below imports.

- :mod:`~gymnasium_llmconfig.lab.cli`: the ``llmconfig`` command line;
- :mod:`~gymnasium_llmconfig.lab.leaderboard`: ``llmconfig bench`` / ``report`` (agents × envs on Ray);
- :mod:`~gymnasium_llmconfig.lab.collect`: collectors that run real training sweeps and write tables.
- :mod:`~gymnasium_llmconfig.lab.rl`: the GRPO objective every trainer here shares.

Dependencies point one way: core (``gymnasium_llmconfig`` outside ``lab``) <- ``wrappers`` <- ``agents``
<- ``lab``. Importing ``gymnasium_llmconfig`` never imports this package.
"""
