"""Task formats: builders that turn a registry entry and its data into a
:class:`~gymnasium_llmconfig.problem.Problem`."""
