// Command ferretdb runs FerretDB 1.24 (a MongoDB wire-protocol server) embedded,
// for machines without Docker. `go install .../cmd/ferretdb` panics at start
// because build/version wants a generated version.txt the module lacks, so we
// embed the library instead.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to listen on")
	handler := flag.String("handler", "sqlite", "backend: sqlite or postgresql")
	sqliteURL := flag.String("sqlite-url", "file:.local/ferretdb/", "SQLite directory URL (trailing slash)")
	postgresURL := flag.String("postgresql-url", "", "PostgreSQL URL when -handler=postgresql")
	flag.Parse()

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

	log.Printf("ferretdb listening on %s (handler %s)", *listen, *handler)
	f.Run(ctx)
}
