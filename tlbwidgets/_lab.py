"""``python -m tlbwidgets._lab ARGS``: JupyterLab with ARGS, as ``python -m jupyterlab`` runs it,
without one start-up warning that nothing the user did causes.

notebook_shim reads every ``ServerApp`` trait when it links, which trips jupyter-server's
"ServerApp.token config is deprecated" although no one set the token. A ``-W`` option cannot
silence it: importing Voila (its server extension) puts a filter that shows every traitlets
deprecation warning in front of it. So this imports Voila first, quietly and with the filters
restored afterwards, and then adds the one filter for the token warning.
"""

import sys
import warnings

__all__ = ["main"]


def main():
    """Run JupyterLab's command line on ``sys.argv[1:]``; never returns."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import voila  # noqa: F401  (its import adds a filter; catch_warnings drops it)
        except ImportError:
            pass
    warnings.filterwarnings("ignore", message="ServerApp.token config is deprecated",
                            category=DeprecationWarning)
    from jupyterlab.labapp import main as lab_main
    sys.exit(lab_main())


if __name__ == "__main__":
    main()
