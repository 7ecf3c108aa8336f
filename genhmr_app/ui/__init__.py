"""The Qt front end. It only calls the core (genhmr_app.pipeline and friends)."""
