"""The store: where dlm keeps built outputs, caches and state (``$DLM_HOME``, default ``~/.dlm``)."""
