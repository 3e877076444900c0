"""Raw stage: one week of each landing source into ``raw.*`` with its quarantine rows, in one transaction."""
