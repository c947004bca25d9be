{
  "targets": [
    {
      "target_name": "cloudbridge_tun",
      "sources": ["src/tun.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
      "conditions": [
        ["OS=='mac'", { "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall"] } }]
      ]
    }
  ]
}
