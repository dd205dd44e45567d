SELECT definition::text FROM template_snapshots WHERE digest = $1
