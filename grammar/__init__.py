"""Package data: ``dlm.lark``, the .dlm body grammar (installed as ``dlmbuild.grammar``)."""
