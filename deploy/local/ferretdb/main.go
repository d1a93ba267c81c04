// Command ferretdb runs FerretDB 1.24 (a MongoDB wire-protocol server) embedded,
// for machines without Docker. `go install .../cmd/ferretdb` panics at start
// because build/version wants a generated version.txt the module lacks, so we
// embed the library instead.
//
// FerretDB 1.24 applies an update as read, modify in Go, write back, with no
// lock between the steps (its SQLite backend avoids transactions by design),
// so two concurrent updates of one document can lose one of them. MongoDB
// guarantees single-document atomicity and our services rely on it (stock
// never oversold, counters exact). So FerretDB listens on a private Unix
// socket, and the public TCP port is a small wire-protocol proxy that runs
// write commands one at a time; reads stay concurrent. See writeproxy.go.
package main

import (
	"context"
	"flag"
	"log"
	"net/http"
	_ "net/http/pprof" // profiles on FERRETDB_PPROF_ADDR only
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:.local/ferretdb/", "SQLite directory URL (trailing slash)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL when -handler=postgresql")
	socketDir := flag.String("socket-dir", os.TempDir(), "where FerretDB's private Unix socket lives")
	flag.Parse()

	socket := filepath.Join(*socketDir, "ferretdb-"+filepath.Base(*listen)+".sock")
	_ = os.Remove(socket)

	f, err := ferretdb.New(&ferretdb.Config{
		Listener:      ferretdb.ListenerConfig{Unix: socket},
		Handler:       *handler,
		SQLiteURL:     *sqliteURL,
		PostgreSQLURL: *postgresURL,
	})
	if err != nil {
		log.Fatal(err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	go f.Run(ctx)

	// where the store's CPU goes, for the bench: FERRETDB_PPROF_ADDR=127.0.0.1:6060
	if addr := os.Getenv("FERRETDB_PPROF_ADDR"); addr != "" {
		go func() { log.Print(http.ListenAndServe(addr, nil)) }()
	}

	log.Printf("ferretdb listening on %s (handler %s, writes serialised)", *listen, *handler)
	if err := serveWriteSerialisingProxy(ctx, *listen, socket); err != nil {
		log.Fatal(err)
	}
}
