require ["fileinto", "copy"];
fileinto :copy "A";
fileinto "A";
