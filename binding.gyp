{
  "targets": [
    {
      "target_name": "scrooge_native",
      "sources": ["dataplane/native/scrooge.c"],
      "cflags": ["-std=gnu11", "-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
      "conditions": [["OS!='linux'", { "type": "none" }]]
    }
  ]
}
