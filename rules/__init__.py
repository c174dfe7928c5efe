"""dlm's build rules, one module per rule kind (installed as ``dlmbuild.rules``)."""
