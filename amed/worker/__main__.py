import sys

from amed.worker.job import main

sys.exit(main(sys.argv[1:]))
