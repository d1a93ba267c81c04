// Command ferretdb runs FerretDB 1.24 (a MongoDB wire-protocol server) embedded,
// for machines without Docker. `go install .../cmd/ferretdb` panics at start
// because build/version wants a generated version.txt the module lacks, so we
// embed the library instead, with ferretdb.patch applied to its source: reads
// by `_id` use the `_id` index, writes run one at a time per collection (single-
// document atomicity, which FerretDB 1.24 lacks), leak tracking is off, and
// stored documents decode with goccy/go-json in one pass per value.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // profiles on FERRETDB_PPROF_ADDR only
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:.local/ferretdb/", "SQLite directory URL (trailing slash)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL when -handler=postgresql")
	flag.Parse()

	// the store's live heap is small and the machine's memory is not: the
	// collector took ~10 % of its CPU at Go's default of 100
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{TCP: *listen},
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	// where the store's CPU goes, for the bench: FERRETDB_PPROF_ADDR=127.0.0.1:6060
	if addr := os.Getenv("FERRETDB_PPROF_ADDR"); addr != "" {
		go func() { log.Print(http.ListenAndServe(addr, nil)) }()
	}

	log.Printf("ferretdb listening on %s (handler %s)", *listen, *handler)
	f.Run(ctx)
}
