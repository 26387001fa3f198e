"""Runtime rules of the processes: the work queue and the leader election's timing."""
