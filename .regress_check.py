import multiprocessing, tempfile, numpy as np
from pathlib import Path
from concurrent.futures import ProcessPoolExecutor
from ews.corruptions import generate
from tests.corruptions import test_generate as t
from tests.corruptions.natural import natural_images
generate._pool = lambda w, images: ProcessPoolExecutor(w, mp_context=multiprocessing.get_context("fork"), initializer=generate._init_worker, initargs=(images,))
try:
    t.test_two_workers_write_the_same_bytes_as_one(Path(tempfile.mkdtemp()), natural_images(5, seed=2), np.arange(5) % 3)
    print("PASSED (regression not caught)")
except TimeoutError as e:
    print("caught:", e)
