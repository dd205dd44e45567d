SELECT definition FROM tasker_template_snapshots WHERE digest = ?1
