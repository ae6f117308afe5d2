"""RPO and RTO: measurement against the objectives, breaches, history."""
