# make chart: results/throughput.dat (written by file_bench) -> throughput.png
set terminal pngcairo size 900,540 noenhanced font ",11"
set output "throughput.png"
set title "epcap reading a pcap file: packets/s (median of the runs)"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key top right
set ylabel "packets/s"
set format y "%.1s%c"
set yrange [0:*]
set grid ytics
plot "results/throughput.dat" using 2:xtic(1) title "epcap per-packet", \
     ""                       using 3 title "epcap batched, fold/4 (default heap)", \
     ""                       using 4 title "epcap batched, tuple fold (default heap)", \
     ""                       using 5 title "epcap batched, fold/4, 256 KiB owner heap", \
     ""                       using 6 title "tcpdump -w /dev/null"
