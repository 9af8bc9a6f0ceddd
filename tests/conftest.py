import os

os.environ.setdefault("AELIB_OFFLINE", "1")  # tests never wait for dataset servers
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
