set -e
P=/work/main/.venv/bin/plntui
A="$P --home /tmp/legacy/alice"; B="$P --home /tmp/legacy/bob"
$A init --name "Alice Example"
$B init --name "Bob Builder"
FA=$($A id | head -1); FB=$($B id | head -1)
$A peer trust "$FB" --name Bob
$B peer trust "$FA" --name Alice
# Alice's network
ADA=$($A contact add --name "Ada Lovelace" --email ada@example.com --org "Analytical Engines" --topic "machine learning" --topic rust --relationship mentor --met "PyCon 2025 sprint" --cadence 30 | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
GR=$($A contact add --name "Grace Hopper" --email grace@navy.example --org "US Navy" --topic cobol --topic compilers --phone "+1 555 0100" --private-field phones --remark "Ask about nanoseconds" --rating 5 | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
SEC=$($A contact add --name "Secret Sam" --org "Hidden Co" --private | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
DUP=$($A contact add --name "Ada L." --email ada.l@example.com --org "Analytical Engines" --topic babbage | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
$A contact merge $ADA $DUP
KEN=$($A contact add --name "Kenji Sato 佐藤健二" --org "東京大学" --introduced-by $ADA | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
$A log $ADA --kind coffee --summary "Talked about her compiler work" --date 2026-11-20
$A log $GR --kind call --summary "Shared call about COBOL" --shared --date 2026-11-21
printf '# Reading list\n\n- Automerge paper\n- CRDT primer\n' > /tmp/legacy/body.md
N1=$($A note add --title "Reading list" --body-file /tmp/legacy/body.md --tag crdt --contact $ADA --remark "my own remark" | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
N2=$($A note add --title "Private plan" --body "only mine" --private | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
GONE=$($A contact add --name "Deleted Dora" | sed -E 's/.*\(([0-9a-f]+)\)$/\1/')
$A contact rm $GONE
# Bob's network
$B contact add --name "Bob's Mentor" --email mentor@bob.example --topic kubernetes
$B note add --title "Bob's note" --body "From Bob with love" --tag ops
# sync once
$A sync --no-discovery --port 47711 --listen 127.0.0.1 > /tmp/legacy/a-sync.log 2>&1 &
SP=$!
sleep 2
$B peer add 127.0.0.1:47711
$B sync --once --no-discovery --port 0 --listen 127.0.0.1 --timeout 20
kill -INT $SP; wait $SP || true
# After sync: Bob edits a shared contact, Alice edits too (unsynced divergence)
$B contact edit $ADA --role "Countess"
$A contact edit $GR --role "Rear Admiral"
echo ADA=$ADA GR=$GR SEC=$SEC DUP=$DUP KEN=$KEN N1=$N1 N2=$N2 GONE=$GONE > /tmp/legacy/ids.txt
