module eventflow.dev/examples/echo

go 1.26.0
