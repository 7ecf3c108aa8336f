"""The Qt front end. It only calls the core (genhmr_app.pipeline and friends)."""

from genhmr_app.ui.qt_refcount import make_singletons_immortal

make_singletons_immortal()
