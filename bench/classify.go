package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	"github.com/wardenhq/warden/policy/sqlclass"
)

const longQuery = `
WITH monthly AS (
  SELECT date_trunc('month', o.ordered_at) AS month,
         c.country,
         sum(o.total) AS revenue,
         count(*) AS orders,
         count(DISTINCT o.customer_id) AS buyers
  FROM orders o
  JOIN customers c ON c.id = o.customer_id
  WHERE o.status IN ('delivered', 'shipped')
    AND o.ordered_at >= now() - interval '2 years'
  GROUP BY 1, 2
),
ranked AS (
  SELECT month, country, revenue, orders, buyers,
         rank() OVER (PARTITION BY month ORDER BY revenue DESC) AS rnk,
         lag(revenue) OVER (PARTITION BY country ORDER BY month) AS prev_revenue,
         avg(revenue) OVER (PARTITION BY country ORDER BY month ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) AS moving_avg
  FROM monthly
)
SELECT month,
       country,
       revenue,
       orders,
       buyers,
       round(100.0 * (revenue - prev_revenue) / nullif(prev_revenue, 0), 1) AS growth_pct,
       moving_avg,
       CASE WHEN rnk <= 3 THEN 'top' ELSE 'other' END AS tier,
       coalesce(lower(country), 'unknown') AS country_key
FROM ranked
WHERE rnk <= 10
ORDER BY month DESC, revenue DESC
LIMIT 200`

// classifyTable measures classification latency per statement, uncached
// (the parser every time) and cached (a statement seen before).
func classifyTable(w io.Writer, iterations int) {
	queries := []struct{ name, sql string }{
		{"short", "SELECT id, name, email FROM customers WHERE id = 42"},
		{"long (40 lines, CTEs, windows)", longQuery},
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "classification\tcache\tp50 µs\tp99 µs\t")
	for _, q := range queries {
		for _, cached := range []bool{false, true} {
			var cache *sqlclass.Cache
			label := "none"
			if cached {
				cache = sqlclass.NewCache(16)
				label = "hit"
				sqlclass.Classify(context.Background(), q.sql, sqlclass.Options{Cache: cache})
			}
			ds := make([]time.Duration, 0, iterations)
			for range iterations {
				start := time.Now()
				if _, err := sqlclass.Classify(context.Background(), q.sql, sqlclass.Options{Cache: cache}); err != nil {
					fmt.Fprintf(w, "classify %s: %v\n", q.name, err)
					return
				}
				ds = append(ds, time.Since(start))
			}
			sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
			fmt.Fprintf(tw, "%s\t%s\t%.1f\t%.1f\t\n", q.name, label, us(ds[len(ds)/2]), us(ds[len(ds)*99/100]))
		}
	}
	tw.Flush()
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1000 }
