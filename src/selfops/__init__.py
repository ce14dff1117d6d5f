"""selfops: the Selfology operations runbook as commands, run through ansible-runner."""
