print("secretfsd: not built yet")
