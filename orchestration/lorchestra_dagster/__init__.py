"""lorchestra on Dagster: the Meltano jobs of meltano.yml as Dagster jobs and schedules."""
